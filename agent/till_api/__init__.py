"""The till API: Checkbox's API v1 as tills use it, served by the box (agent.till_api.app.create_app)."""
