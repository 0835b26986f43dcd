variable "name" {
  description = "Prefix of every resource name, for example \"onsale-prod\"."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the tasks."
  type        = string
}

variable "vpc_cidr_block" {
  description = "IPv4 range of the VPC: the tasks reach Redis, Kafka and RDS Proxy inside it."
  type        = string
}

variable "alb_security_group_id" {
  description = "Security group of the ALB, which may reach the serve tasks on container_port."
  type        = string
}

variable "container_port" {
  description = "Port on which `onsale serve` listens in its task."
  type        = number
  default     = 8080
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the image repository."
  type        = string
}

variable "ecr_force_delete" {
  description = "Let `terraform destroy` delete the image repository with its images. For staging."
  type        = bool
  default     = false
}
