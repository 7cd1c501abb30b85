from services.gateway.main import GatewaySettings, create_app
from shared.serve import serve

settings = GatewaySettings()
serve(lambda: create_app(settings), settings)
