from services.usage.main import UsageSettings, create_app
from shared.serve import serve

settings = UsageSettings()
serve(lambda: create_app(settings), settings)
