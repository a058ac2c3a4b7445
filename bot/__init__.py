"""What shoppers connect to and what starts everything: the gateway (FastAPI + socket.io: text, voice,
the chat widget) and the launcher that starts and stops Rasa, the action server and the gateway."""
