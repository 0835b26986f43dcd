variable "name" {
  description = "Prefix of every resource name, for example \"onsale-prod\"."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the load balancer."
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets, one per availability zone."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate, in the ALB's region, for origin_domain_name: CloudFront connects to the ALB over HTTPS with that name."
  type        = string
}

variable "extra_ingress_cidrs" {
  description = "Address ranges besides CloudFront's origin-facing servers that may reach the ALB on 443, for example an operator VPN. Empty by default, so only CloudFront reaches the origin."
  type        = list(string)
  default     = []
}

variable "container_port" {
  description = "Port on which `onsale serve` listens in its task (ONSALE_LISTEN)."
  type        = number
  default     = 8080
}

variable "idle_timeout_seconds" {
  description = "Seconds a connection may stay silent before the ALB closes it. Waiting-room WebSockets of fans far back in a queue before the open can be silent for minutes."
  type        = number
  default     = 300
}

variable "deletion_protection" {
  description = "Refuse to delete the ALB until this is turned off."
  type        = bool
  default     = true
}

variable "access_log_bucket" {
  description = "S3 bucket for the ALB access logs."
  type        = string
}

variable "access_log_prefix" {
  description = "Key prefix of the ALB access logs in access_log_bucket."
  type        = string
  default     = "alb"
}
