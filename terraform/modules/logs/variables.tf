variable "name" {
  description = "Prefix of every resource name, for example \"onsale-prod\"."
  type        = string
}

variable "retention_days" {
  description = "Days ALB and CloudFront access logs are kept before S3 deletes them."
  type        = number
  default     = 90
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket with the logs in it. For staging."
  type        = bool
  default     = false
}
