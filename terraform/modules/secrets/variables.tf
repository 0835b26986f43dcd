variable "name" {
  description = "Prefix of every secret name, for example \"onsale-prod\": secrets are named NAME/SECRET."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key that encrypts the secrets."
  type        = string
}

variable "smtp_enabled" {
  description = "Create the ONSALE_SMTP_URL secret. Without it the ticket worker writes .eml files inside its task, which suits staging only."
  type        = bool
  default     = true
}

variable "recovery_window_in_days" {
  description = "Days a deleted secret can still be restored (0 deletes at once, else 7 to 30)."
  type        = number
  default     = 30
}
