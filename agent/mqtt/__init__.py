"""MQTT: state, events, Home Assistant discovery, remote actions."""
