from services.payments.main import PaymentsSettings, create_app
from shared.serve import serve

settings = PaymentsSettings()
serve(lambda: create_app(settings), settings)
