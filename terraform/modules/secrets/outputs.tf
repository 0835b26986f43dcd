output "secret_arns" {
  description = "ARN of each secret, by short name (token-signing-key, database-url, ...)."
  value       = { for key, secret in aws_secretsmanager_secret.this : key => secret.arn }
}

output "environment_secret_arns" {
  description = "ARN of each secret that onsale reads, by the environment variable it fills (ONSALE_DATABASE_URL, ...)."
  value       = { for key, secret in aws_secretsmanager_secret.this : local.secrets[key].env => secret.arn if local.secrets[key].env != "" }
}

output "secret_names" {
  description = "Name of each secret, by short name, for `aws secretsmanager put-secret-value --secret-id`."
  value       = { for key, secret in aws_secretsmanager_secret.this : key => secret.name }
}
