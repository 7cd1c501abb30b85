from services.invoicing.main import InvoicingSettings, create_app
from shared.serve import serve

settings = InvoicingSettings()
serve(lambda: create_app(settings), settings)
