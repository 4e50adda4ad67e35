# Image of the service, the scheduler and the CLI (used by docker-compose.yaml): the wheel built
# from this tree, installed like a user installs it (not editable; it carries the migrations).
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cli ./cli
COPY customers ./customers
COPY service ./service
COPY etl ./etl
COPY jobs ./jobs
COPY sql ./sql
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

FROM python:3.11-slim
COPY --from=wheel /dist /dist
RUN pip install --no-cache-dir /dist/*.whl && rm -rf /dist
WORKDIR /app
# the sample files, for `customers import data/samples/customers.csv` in a container
COPY data/samples ./data/samples
EXPOSE 8000
CMD ["customers", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
