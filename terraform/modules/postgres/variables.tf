variable "name" {
  description = "Prefix of every resource name, for example \"onsale-prod\"."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database."
  type        = string
}

variable "subnet_ids" {
  description = "Data-tier subnets, one per availability zone."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups whose members may connect to the proxy (the onsale tasks and the database admin task)."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL major version (onsale is tested on 15)."
  type        = string
  default     = "15"
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.r7g.large"
}

variable "multi_az" {
  description = "Keep a synchronous standby in another zone that RDS fails over to."
  type        = bool
  default     = true
}

variable "allocated_storage_gb" {
  description = "Initial gp3 storage, in GiB."
  type        = number
  default     = 100
}

variable "max_allocated_storage_gb" {
  description = "Upper limit for storage autoscaling, in GiB."
  type        = number
  default     = 500
}

variable "database_name" {
  description = "Database that holds both EventDB and OrderDB tables."
  type        = string
  default     = "onsale"
}

variable "master_username" {
  description = "Master user name. Its password is generated and kept in Secrets Manager by RDS, never by Terraform."
  type        = string
  default     = "onsale_admin"
}

variable "app_credentials_secret_arn" {
  description = "Secret with the application user's login as JSON (username, password), filled out of band, that RDS Proxy uses."
  type        = string
}

variable "proxy_require_tls" {
  description = "Reject clients that connect to RDS Proxy without TLS."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery."
  type        = number
  default     = 14
}

variable "deletion_protection" {
  description = "Refuse to delete the instance until this is turned off."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for storage, Performance Insights, the master secret and logs."
  type        = string
}

variable "maintenance_window" {
  description = "Weekly maintenance window in UTC (ddd:hh24:mi-ddd:hh24:mi). Keep it away from onsales."
  type        = string
  default     = "tue:07:00-tue:08:00"
}
