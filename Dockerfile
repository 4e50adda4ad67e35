# Image of the service, the scheduler and the CLI (used by docker-compose.yaml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY customers ./customers
COPY service ./service
COPY etl ./etl
COPY jobs ./jobs
COPY sql ./sql
COPY data ./data
RUN pip install --no-cache-dir -e .
EXPOSE 8000
CMD ["customers", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
