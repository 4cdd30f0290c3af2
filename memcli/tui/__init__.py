"""The textual front end (`memcli chat`). Import ``memcli.tui.app`` only when the app is needed."""
