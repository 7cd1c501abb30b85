from services.gateway.main import create_app
from services.gateway.settings import GatewaySettings
from shared.serve import serve

settings = GatewaySettings()
serve(lambda: create_app(settings), settings)
