variable "name" {
  description = "Prefix of every resource name, for example \"onsale-prod\"."
  type        = string
}

variable "domain_name" {
  description = "Public host name of the platform, for example tickets.example.com."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate in us-east-1 for domain_name (CloudFront reads viewer certificates from us-east-1 only)."
  type        = string
}

variable "origin_domain_name" {
  description = "Host name that resolves to the ALB and that the ALB's certificate covers, for example origin.tickets.example.com."
  type        = string
}

variable "price_class" {
  description = "CloudFront price class: PriceClass_100 (North America, Europe), PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"
}

variable "browse_max_ttl_seconds" {
  description = "Longest time CloudFront keeps browse responses (event lists, event pages, seat geometry). The origin's Cache-Control sets the actual time within [0, this]."
  type        = number
  default     = 86400
}

variable "browse_default_ttl_seconds" {
  description = "Time CloudFront keeps a browse response whose origin sent no Cache-Control."
  type        = number
  default     = 300
}

variable "availability_ttl_seconds" {
  description = "Longest time CloudFront keeps an availability bitmap. Seat-map staleness is this plus the consumer lag, so keep it at 1."
  type        = number
  default     = 1
}

variable "edge_package_dir" {
  description = "Directory with the built Lambda@Edge package (scripts/build-edge.sh writes edge/dist/lambda). Terraform zips it; it must exist at plan time."
  type        = string
}

variable "edge_handler" {
  description = "Handler of the Lambda@Edge gate as FILE.EXPORT: the file edge_package_dir/FILE.js (or .mjs, .cjs) must export EXPORT."
  type        = string
  default     = "handler.handler"
}

variable "edge_runtime" {
  description = "Lambda runtime of the gate (Node.js, which runs the gate's WebAssembly)."
  type        = string
  default     = "nodejs22.x"
}

variable "frontend_force_destroy" {
  description = "Let `terraform destroy` delete the frontend bucket with its files. For staging."
  type        = bool
  default     = false
}

variable "log_bucket_domain_name" {
  description = "Domain name of the access-log bucket (from the logs module)."
  type        = string
}

variable "log_bucket_id" {
  description = "Name of the access-log bucket, for the frontend bucket's server access logs."
  type        = string
}

variable "waf_enabled" {
  description = "Attach a WAF web ACL with AWS managed rules and a per-address rate limit."
  type        = bool
  default     = true
}

variable "waf_rate_limit_per_5_minutes" {
  description = "Requests one IP address may send in 5 minutes before WAF blocks it. Fans behind a carrier NAT share addresses, so keep this generous."
  type        = number
  default     = 20000
}
