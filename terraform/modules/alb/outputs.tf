output "dns_name" {
  description = "DNS name of the ALB; point origin_domain_name at it."
  value       = aws_lb.alb.dns_name
}

output "zone_id" {
  description = "Route 53 hosted zone of the ALB, for an alias record."
  value       = aws_lb.alb.zone_id
}

output "security_group_id" {
  description = "Security group of the ALB."
  value       = aws_security_group.alb.id
}

output "target_group_arn" {
  description = "Target group of the `onsale serve` tasks."
  value       = aws_lb_target_group.serve.arn
}

output "arn_suffix" {
  description = "ARN suffix of the ALB, for request-count scaling."
  value       = aws_lb.alb.arn_suffix
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the serve target group, for request-count scaling."
  value       = aws_lb_target_group.serve.arn_suffix
}
