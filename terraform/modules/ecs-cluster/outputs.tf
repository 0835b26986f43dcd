output "cluster_id" {
  description = "ID (ARN) of the ECS cluster."
  value       = aws_ecs_cluster.this.id
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "repository_url" {
  description = "URL of the ECR repository of the onsale image, without a tag."
  value       = aws_ecr_repository.onsale.repository_url
}

output "task_security_group_id" {
  description = "Security group of every onsale task; the data modules admit it."
  value       = aws_security_group.tasks.id
}
