output "proxy_endpoint" {
  description = "Host name of RDS Proxy, for ONSALE_DATABASE_URL."
  value       = aws_db_proxy.proxy.endpoint
}

output "database_name" {
  description = "Database of EventDB and OrderDB."
  value       = aws_db_instance.database.db_name
}

output "instance_endpoint" {
  description = "Host and port of the instance itself, reachable only from RDS Proxy."
  value       = aws_db_instance.database.endpoint
}

output "master_user_secret_arn" {
  description = "ARN of the secret in which RDS keeps the master user's login."
  value       = aws_db_instance.database.master_user_secret[0].secret_arn
}

output "proxy_security_group_id" {
  description = "Security group of RDS Proxy."
  value       = aws_security_group.proxy.id
}
