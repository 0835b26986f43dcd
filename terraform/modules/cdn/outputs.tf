output "distribution_id" {
  description = "ID of the CloudFront distribution, for cache invalidations."
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_domain_name" {
  description = "CloudFront host name; point domain_name at it (CNAME or Route 53 alias)."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "distribution_hosted_zone_id" {
  description = "Route 53 hosted zone of CloudFront, for an alias record."
  value       = aws_cloudfront_distribution.this.hosted_zone_id
}

output "frontend_bucket" {
  description = "Bucket of the frontend's static files, for `aws s3 sync`."
  value       = aws_s3_bucket.frontend.id
}

output "edge_function_qualified_arn" {
  description = "Numbered version of the Lambda@Edge gate that CloudFront runs."
  value       = aws_lambda_function.edge.qualified_arn
}

output "edge_package_dir" {
  description = "Directory the Lambda@Edge package was zipped from."
  value       = var.edge_package_dir
}

output "edge_handler" {
  description = "Handler of the Lambda@Edge gate (FILE.EXPORT)."
  value       = var.edge_handler
}
