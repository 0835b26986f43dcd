output "task_definition_arn" {
  description = "ARN of the task definition, with its revision."
  value       = aws_ecs_task_definition.this.arn
}

output "task_family" {
  description = "Family of the task definition, for `aws ecs run-task --task-definition`."
  value       = aws_ecs_task_definition.this.family
}

output "service_name" {
  description = "Name of the ECS service, or null for a one-off task definition."
  value       = var.run_as_service ? aws_ecs_service.this[0].name : null
}

output "log_group_name" {
  description = "CloudWatch log group of the role."
  value       = aws_cloudwatch_log_group.this.name
}
