variable "name" {
  description = "Prefix of every resource name, for example \"onsale-prod\"."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Data-tier subnets, one per availability zone."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups whose members may connect to Redis (the onsale tasks)."
  type        = list(string)
}

variable "engine" {
  description = "Cache engine: \"redis\" (Redis OSS, what onsale is tested on) or \"valkey\" (the Redis fork ElastiCache also runs, priced lower)."
  type        = string
  default     = "redis"

  validation {
    condition     = contains(["redis", "valkey"], var.engine)
    error_message = "engine must be \"redis\" or \"valkey\"."
  }
}

variable "engine_version" {
  description = "Engine version, for example \"7.1\" for Redis OSS."
  type        = string
  default     = "7.1"
}

variable "parameter_group_family" {
  description = "Parameter group family that matches engine and engine_version, for example \"redis7\" or \"valkey8\"."
  type        = string
  default     = "redis7"
}

variable "node_type" {
  description = "Node type of every primary and replica."
  type        = string
  default     = "cache.r7g.large"
}

variable "shards" {
  description = "Number of shards (node groups). One event's seats live on one shard; its waiting room spreads over as many shards as ONSALE_REDIS_QUEUE_SHARDS says (the output shards)."
  type        = number
  default     = 3
}

variable "replicas_per_shard" {
  description = "Replicas of each shard's primary. At least 1 for automatic failover."
  type        = number
  default     = 1

  validation {
    condition     = var.replicas_per_shard >= 1 && var.replicas_per_shard <= 5
    error_message = "replicas_per_shard must be 1 to 5: automatic failover needs a replica."
  }
}

variable "transit_encryption_mode" {
  description = "\"required\": clients must use TLS (rediss://). \"preferred\": TLS and plain connections are both accepted, for a client that cannot speak TLS yet."
  type        = string
  default     = "required"

  validation {
    condition     = contains(["required", "preferred"], var.transit_encryption_mode)
    error_message = "transit_encryption_mode must be \"required\" or \"preferred\"."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for data at rest, snapshots and the log groups."
  type        = string
}

variable "snapshot_retention_limit" {
  description = "Days of daily snapshots kept. Holds live 600 seconds, so snapshots matter for sold-seat keys and queue state only."
  type        = number
  default     = 1
}

variable "log_retention_days" {
  description = "Days the slow log and engine log are kept in CloudWatch Logs."
  type        = number
  default     = 30
}

variable "maintenance_window" {
  description = "Weekly maintenance window in UTC (ddd:hh24:mi-ddd:hh24:mi). Keep it away from onsales."
  type        = string
  default     = "tue:06:00-tue:07:00"
}
