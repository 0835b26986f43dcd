# --- Deployment ----------------------------------------------------------------------------------

variable "name" {
  description = "Name of the deployment, the prefix of every resource and secret name."
  type        = string
  default     = "onsale-prod"
}

variable "region" {
  description = "AWS region of the stack (CloudFront's parts are in us-east-1 regardless)."
  type        = string
  default     = "us-east-1"
}

variable "services_enabled" {
  description = "Run the onsale services. Apply with false first, fill the secrets and migrate, then apply with true (docs/DEPLOY.md)."
  type        = bool
  default     = true
}

# --- Names and certificates ----------------------------------------------------------------------

variable "domain_name" {
  description = "Public host name of the platform, for example tickets.example.com."
  type        = string
}

variable "origin_domain_name" {
  description = "Host name of the ALB that CloudFront connects to, for example origin.tickets.example.com."
  type        = string
}

variable "cloudfront_certificate_arn" {
  description = "ACM certificate in us-east-1 that covers domain_name."
  type        = string
}

variable "alb_certificate_arn" {
  description = "ACM certificate in region that covers origin_domain_name."
  type        = string
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of both names. Set it to create their alias records; leave null to create them elsewhere."
  type        = string
  default     = null
}

# --- Image and edge package ------------------------------------------------------------------------

variable "image_tag" {
  description = "Tag of the onsale image in the stack's ECR repository (docs/DEPLOY.md, \"Build and push the image\")."
  type        = string
}

variable "cpu_architecture" {
  description = "CPU architecture the image was built for: X86_64 or ARM64."
  type        = string
  default     = "X86_64"
}

variable "edge_package_dir" {
  description = "Built Lambda@Edge package, relative to this directory; scripts/build-edge.sh writes it."
  type        = string
  default     = "../../../edge/dist/lambda"
}

variable "edge_handler" {
  description = "Handler of the Lambda@Edge gate as FILE.EXPORT."
  type        = string
  default     = "handler.handler"
}

# --- Sale --------------------------------------------------------------------------------------

variable "admission_rate" {
  description = "Fans admitted per second per queue (ONSALE_ADMISSION_RATE), matched to what one Redis shard sustains."
  type        = number
  default     = 5000
}

variable "mail_from" {
  description = "Sender address of ticket emails (ONSALE_MAIL_FROM)."
  type        = string
  default     = "onsale tickets <tickets@onsale.invalid>"
}

variable "smtp_enabled" {
  description = "Send ticket emails through the SMTP server in the smtp-url secret. Without it, the ticket worker writes .eml files inside its task, where nobody reads them."
  type        = bool
  default     = true
}

# --- Network -----------------------------------------------------------------------------------

variable "vpc_cidr_block" {
  description = "IPv4 /16 range of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway instead of one per zone (cheaper, not zone-redundant)."
  type        = bool
  default     = false
}

# --- Redis -------------------------------------------------------------------------------------

variable "redis_node_type" {
  description = "ElastiCache node type of every primary and replica."
  type        = string
  default     = "cache.r7g.large"
}

variable "redis_shards" {
  description = "Redis Cluster shards (docs/DEPLOY.md, \"Sizing\")."
  type        = number
  default     = 3
}

variable "redis_replicas_per_shard" {
  description = "Replicas per shard."
  type        = number
  default     = 1
}

variable "redis_transit_encryption_mode" {
  description = "\"required\" (TLS only) or \"preferred\" (TLS and plain), see docs/DEPLOY.md, \"TLS between onsale and the engines\"."
  type        = string
  default     = "required"
}

# --- Kafka -------------------------------------------------------------------------------------

variable "kafka_broker_instance_type" {
  description = "MSK broker instance type (three brokers, one per zone)."
  type        = string
  default     = "kafka.m7g.large"
}

variable "kafka_broker_volume_size_gb" {
  description = "EBS storage per broker, in GiB."
  type        = number
  default     = 100
}

variable "kafka_topics" {
  description = "Partitions and retention of onsale's two topics."
  type = map(object({
    partitions      = number
    retention_hours = number
  }))
  default = {
    "onsale.seat-changes" = { partitions = 12, retention_hours = 24 }
    "onsale.tickets"      = { partitions = 12, retention_hours = 168 }
  }
}

variable "kafka_client_broker_encryption" {
  description = "\"TLS\" or \"TLS_PLAINTEXT\", see docs/DEPLOY.md, \"TLS between onsale and the engines\"."
  type        = string
  default     = "TLS"
}

# --- PostgreSQL --------------------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class of EventDB and OrderDB."
  type        = string
  default     = "db.r7g.large"
}

variable "db_multi_az" {
  description = "Keep a synchronous standby in a second zone."
  type        = bool
  default     = true
}

variable "db_proxy_require_tls" {
  description = "RDS Proxy rejects clients without TLS, see docs/DEPLOY.md, \"TLS between onsale and the engines\"."
  type        = bool
  default     = true
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the log and frontend buckets and the image repository with their contents."
  type        = bool
  default     = false
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once, else 7 to 30)."
  type        = number
  default     = 30
}

variable "waf_enabled" {
  description = "Put a WAF web ACL (AWS managed rules, per-address rate limit) on CloudFront."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the database and the ALB against deletion."
  type        = bool
  default     = true
}

# --- Services ----------------------------------------------------------------------------------

variable "services" {
  description = "Fargate size and scaling of each onsale role. scaling_target is requests per task per minute for serve, average CPU percent for the workers (docs/DEPLOY.md, \"Sizing\")."
  type = map(object({
    cpu            = number
    memory         = number
    min_capacity   = number
    max_capacity   = number
    scaling_target = number
  }))
  default = {
    serve        = { cpu = 2048, memory = 4096, min_capacity = 6, max_capacity = 60, scaling_target = 60000 }
    notification = { cpu = 1024, memory = 2048, min_capacity = 3, max_capacity = 12, scaling_target = 50 }
    ticket       = { cpu = 1024, memory = 2048, min_capacity = 3, max_capacity = 12, scaling_target = 50 }
    expiry       = { cpu = 512, memory = 1024, min_capacity = 2, max_capacity = 4, scaling_target = 50 }
  }

  validation {
    condition     = alltrue([for role in ["serve", "notification", "ticket", "expiry"] : contains(keys(var.services), role)])
    error_message = "services must configure serve, notification, ticket and expiry."
  }
}

variable "serve_scheduled_capacity" {
  description = "Scheduled capacity of the serve tasks, to scale out before an onsale opens (docs/DEPLOY.md, \"Before an onsale\")."
  type = list(object({
    name         = string
    schedule     = string
    min_capacity = number
    max_capacity = number
  }))
  default = []
}

variable "log_retention_days" {
  description = "Days container and engine logs are kept in CloudWatch Logs."
  type        = number
  default     = 30
}
