"""MQTT: state, events, Home Assistant discovery, remote actions, and the fleet view."""
