output "bucket_id" {
  description = "Name of the access-log bucket."
  value       = aws_s3_bucket.logs.id
}

output "bucket_domain_name" {
  description = "Domain name of the access-log bucket, as CloudFront logging expects it."
  value       = aws_s3_bucket.logs.bucket_domain_name
}

output "alb_prefix" {
  description = "Key prefix under which the ALB writes its access logs."
  value       = "alb"
}
