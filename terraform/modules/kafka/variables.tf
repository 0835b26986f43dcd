variable "name" {
  description = "Prefix of every resource name, for example \"onsale-prod\"."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "subnet_ids" {
  description = "Data-tier subnets, one per availability zone; the brokers are spread evenly over them."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups whose members may connect to the brokers (the onsale tasks)."
  type        = list(string)
}

variable "kafka_version" {
  description = "Apache Kafka version of the MSK cluster (3.8.x is the version MSK recommends as of 2025)."
  type        = string
  default     = "3.8.x"
}

variable "broker_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.m7g.large"
}

variable "brokers_per_zone" {
  description = "Brokers in each availability zone (the cluster has three times as many)."
  type        = number
  default     = 1
}

variable "broker_volume_size_gb" {
  description = "EBS storage of each broker, in GiB."
  type        = number
  default     = 100
}

variable "topics" {
  description = <<-EOT
    The two topics onsale uses, with partitions and retention. onsale creates its topics itself at
    start-up, so these values reach Kafka as ONSALE_KAFKA_PARTITIONS (one count for both topics:
    the larger one) and as the brokers' default retention (the longer one). The output
    topic_override_commands sets a shorter retention on the other topic.
  EOT
  type = map(object({
    partitions      = number
    retention_hours = number
  }))
  default = {
    "onsale.seat-changes" = { partitions = 12, retention_hours = 24 }
    "onsale.tickets"      = { partitions = 12, retention_hours = 168 }
  }

  validation {
    condition     = alltrue([for topic in values(var.topics) : topic.partitions >= 1 && topic.retention_hours >= 1])
    error_message = "Every topic needs at least 1 partition and 1 hour of retention."
  }
}

variable "replication_factor" {
  description = "Replication factor of the topics (ONSALE_KAFKA_REPLICATION); 3 survives the loss of one zone."
  type        = number
  default     = 3
}

variable "client_broker_encryption" {
  description = "Encryption between clients and brokers: \"TLS\" (port 9094) or \"TLS_PLAINTEXT\" (TLS on 9094 and plaintext on 9092, for a client that cannot speak TLS yet)."
  type        = string
  default     = "TLS"

  validation {
    condition     = contains(["TLS", "TLS_PLAINTEXT"], var.client_broker_encryption)
    error_message = "client_broker_encryption must be \"TLS\" or \"TLS_PLAINTEXT\"."
  }
}

variable "sasl_scram_enabled" {
  description = "Also accept SASL/SCRAM-SHA-512 logins on port 9096. Users are secrets named AmazonMSK_*, associated out of band."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for data at rest and the broker log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days the broker logs are kept in CloudWatch Logs."
  type        = number
  default     = 30
}
