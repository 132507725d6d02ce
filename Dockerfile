# The function app as a container (Azure Functions Python image). Not built here: this
# machine has no Docker engine. `azd up` deploys to Flex Consumption without it; this is
# for container hosting (Container Apps, Premium/Dedicated plans) or a local smoke run:
#   docker build -t weather-jobs . && docker run -p 8080:80 \
#     -e AzureWebJobsStorage=... -e AUTH_SIGNING_KEY=... weather-jobs
FROM mcr.microsoft.com/azure-functions/python:4-python3.11

ENV AzureWebJobsScriptRoot=/home/site/wwwroot \
    AzureFunctionsJobHost__Logging__Console__IsEnabled=true \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /home/site/wwwroot
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# Only what .funcignore deploys: no tests, devtools, bench or infra.
COPY host.json function_app.py ./
COPY functions ./functions
COPY shared ./shared
COPY web ./web
COPY data/cities15000.json.gz data/README.md ./data/
