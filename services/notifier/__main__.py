from services.notifier.main import NotifierSettings, create_app
from shared.serve import serve

settings = NotifierSettings()
serve(lambda: create_app(settings), settings)
