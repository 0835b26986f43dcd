output "repository_url" {
  description = "ECR repository to push the onsale image to."
  value       = module.ecs_cluster.repository_url
}

output "cluster_name" {
  description = "ECS cluster of the onsale services."
  value       = module.ecs_cluster.cluster_name
}

output "service_subnet_ids" {
  description = "Subnets for `aws ecs run-task --network-configuration`."
  value       = module.network.service_subnet_ids
}

output "task_security_group_id" {
  description = "Security group for `aws ecs run-task --network-configuration`."
  value       = module.ecs_cluster.task_security_group_id
}

output "tools_task_family" {
  description = "Task definition of the one-off onsale commands (migrate, seed, import-plan)."
  value       = module.onsale_tools.task_family
}

output "database_admin_task_family" {
  description = "Task definition that creates the database's application user."
  value       = module.database_admin.task_family
}

output "secret_names" {
  description = "Secrets Manager secrets to fill before the services start."
  value       = module.secrets.secret_names
}

output "database_proxy_endpoint" {
  description = "RDS Proxy host name, for the database-url secret."
  value       = module.postgres.proxy_endpoint
}

output "redis_url" {
  description = "ONSALE_REDIS_URL of the services."
  value       = module.redis.url
}

output "kafka_brokers" {
  description = "ONSALE_KAFKA_BROKERS of the services."
  value       = local.kafka_brokers
}

output "kafka_topic_override_commands" {
  description = "Per-topic retention commands to run once after onsale created its topics."
  value       = module.kafka.topic_override_commands
}

output "alb_dns_name" {
  description = "DNS name of the ALB; origin_domain_name must resolve to it."
  value       = module.alb.dns_name
}

output "cloudfront_domain_name" {
  description = "CloudFront host name; domain_name must resolve to it."
  value       = module.cdn.distribution_domain_name
}

output "cloudfront_distribution_id" {
  description = "Distribution to invalidate after a frontend upload."
  value       = module.cdn.distribution_id
}

output "frontend_bucket" {
  description = "Bucket of the frontend's static files."
  value       = module.cdn.frontend_bucket
}

output "edge_package_dir" {
  description = "Directory the Lambda@Edge package was zipped from."
  value       = var.edge_package_dir
}
