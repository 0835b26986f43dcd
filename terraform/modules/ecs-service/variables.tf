variable "name" {
  description = "Name of the service, its task family and its log group, for example \"onsale-prod-serve\"."
  type        = string
}

variable "cluster_id" {
  description = "ID (ARN) of the ECS cluster."
  type        = string
}

variable "cluster_name" {
  description = "Name of the ECS cluster, for the autoscaling resource id."
  type        = string
}

variable "image" {
  description = "Container image with its tag, for example ACCOUNT.dkr.ecr.REGION.amazonaws.com/onsale-prod/onsale:0.1.0."
  type        = string
}

variable "command" {
  description = "Arguments after the image's entry point, for example [\"serve\"] or [\"worker\", \"ticket\"]."
  type        = list(string)
}

variable "cpu" {
  description = "CPU units of one task (1024 = 1 vCPU); a Fargate size together with memory."
  type        = number
}

variable "memory" {
  description = "Memory of one task, in MiB; a Fargate size together with cpu."
  type        = number
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: X86_64 or ARM64 (Graviton, about 20% cheaper per vCPU-hour)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "environment" {
  description = "Plain environment variables of the container. Never put a secret here: use secrets."
  type        = map(string)
  default     = {}
}

variable "secrets" {
  description = "Environment variables filled from Secrets Manager at task start: variable name to secret ARN (optionally with a :json-key:: suffix)."
  type        = map(string)
  default     = {}
}

variable "secret_arns" {
  description = "ARNs of the secrets named in secrets, without JSON-key suffixes: the execution role may read these and nothing else."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "KMS key of the secrets and of the log group."
  type        = string
}

variable "subnet_ids" {
  description = "Service-tier subnets of the tasks."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the tasks."
  type        = list(string)
}

variable "container_port" {
  description = "Port the container listens on, or null for a role without HTTP."
  type        = number
  default     = null
}

variable "target_group_arn" {
  description = "ALB target group the tasks register with, or null."
  type        = string
  default     = null
}

variable "run_as_service" {
  description = "Create an ECS service with scaling. False creates the task definition only, for one-off tasks started with `aws ecs run-task` (migrate, seed, import-plan)."
  type        = bool
  default     = true
}

variable "enabled" {
  description = "Run tasks. False keeps the service at zero tasks, for the first apply before the secrets have values."
  type        = bool
  default     = true
}

variable "min_capacity" {
  description = "Fewest tasks the autoscaler keeps. Spread over three zones, 3 keeps the role up through a zone failure."
  type        = number
  default     = 3
}

variable "max_capacity" {
  description = "Most tasks the autoscaler starts. For a Kafka consumer, tasks beyond the partition count sit idle."
  type        = number
  default     = 12
}

variable "scaling_metric" {
  description = "Target-tracking metric: \"cpu\" (average CPU utilization) or \"alb_requests\" (requests per task per minute, needs alb_resource_label)."
  type        = string
  default     = "cpu"

  validation {
    condition     = contains(["cpu", "alb_requests"], var.scaling_metric)
    error_message = "scaling_metric must be \"cpu\" or \"alb_requests\"."
  }
}

variable "scaling_target" {
  description = "Target value of the metric: percent CPU, or ALB requests per task per minute."
  type        = number
  default     = 50
}

variable "alb_resource_label" {
  description = "ALB and target group ARN suffixes joined by a slash, for the alb_requests metric."
  type        = string
  default     = null
}

variable "scheduled_capacity" {
  description = "Scheduled changes of min and max capacity, for example to scale out before an onsale opens. schedule is an at(), rate() or cron() expression in UTC."
  type = list(object({
    name         = string
    schedule     = string
    min_capacity = number
    max_capacity = number
  }))
  default = []
}

variable "log_retention_days" {
  description = "Days the container logs are kept in CloudWatch Logs."
  type        = number
  default     = 30
}

variable "stop_timeout_seconds" {
  description = "Seconds between SIGTERM and SIGKILL when a task stops, for draining (Fargate allows up to 120)."
  type        = number
  default     = 30
}
