variable "name" {
  description = "Prefix of every resource name, for example \"onsale-prod\"."
  type        = string
}

variable "cidr_block" {
  description = "IPv4 range of the VPC. Each of the nine subnets gets a /20 of it, so it must be a /16."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && endswith(var.cidr_block, "/16")
    error_message = "cidr_block must be an IPv4 /16 range such as 10.40.0.0/16."
  }
}

variable "availability_zones" {
  description = "Three availability zones of the region. Empty selects the first three that are available."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) == 3
    error_message = "availability_zones must list exactly three zones, or be empty."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones instead of one per zone: cheaper, but outbound traffic from every zone stops when that zone fails. For staging."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "Days the VPC flow logs are kept in CloudWatch Logs."
  type        = number
  default     = 365
}

variable "log_kms_key_arn" {
  description = "KMS key that encrypts the flow log group."
  type        = string
}
