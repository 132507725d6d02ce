# The function app as a container, on the Azure Functions Python 3.11 base image.
#
# `azd up` does not use this file: it deploys a zip package to Flex Consumption (azure.yaml,
# infra/). The image is for container hosting (Azure Container Apps, Functions Premium or
# Dedicated plans) and for a local smoke run of the real Functions host:
#   docker build -t weather-jobs .
#   docker run --rm -p 8080:80 -e AzureWebJobsStorage="<connection string>" \
#     -e AUTH_SIGNING_KEY="<32+ random bytes>" weather-jobs
#   curl http://localhost:8080/api/health
# `docker compose up` (docker-compose.yml) runs this image with Azurite and the Web PubSub
# emulator and the settings of local.settings.example.json.
# It was written without a Docker engine (none on the machine it was written on) and has not
# been built: build it once before relying on it.
#
# Only non-secret defaults are set here; secrets and environment-specific settings come from
# the host's environment (app settings, Key Vault references, `docker run -e`).
FROM mcr.microsoft.com/azure-functions/python:4-python3.11

ENV AzureWebJobsScriptRoot=/home/site/wwwroot \
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true \
    FUNCTIONS_WORKER_RUNTIME=python \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Dependencies first, so that code changes reuse this layer. Runtime dependencies only:
# requirements-dev.txt (tests, tooling) never enters the image.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt

# Exactly what .funcignore lets through to Azure: the app, its static page and its data
# (data/samples, web/tests, tests, devtools, bench, infra and docs stay out; .dockerignore
# keeps them out of the build context too).
WORKDIR /home/site/wwwroot
COPY host.json function_app.py ./
COPY functions ./functions
COPY shared ./shared
COPY web ./web
COPY data ./data
# The city index database is a build output (git-ignored): built here from the tracked rows,
# which the image then no longer needs (docs/pending/issue-21.md).
RUN python -m shared.adapters.city_index_build --output data/cities.sqlite3 \
    && rm data/cities15000.json.gz
