# One image for every BillPort process; the command picks the service:
#   docker run billport python -m services.invoicing
FROM python:3.11-slim-bookworm

# WeasyPrint's libraries (with the fast font subsetter) and fonts, for the notifier.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 billport
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY devstack ./devstack
COPY bench ./bench
COPY billport_cli ./billport_cli
RUN pip install --no-cache-dir .

USER billport
ENV PYTHONUNBUFFERED=1
# Every service listens on all interfaces inside its container; the port comes from its
# BILLPORT_<SERVICE>_HTTP_PORT (the gateway's from BILLPORT_GATEWAY_PORT).
CMD ["python", "-m", "services.gateway"]
