variable "name" {
  description = "Prefix of every resource name, for example \"onsale-prod\"."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Days a scheduled key deletion waits before the key and everything it encrypts become unreadable (7 to 30)."
  type        = number
  default     = 30
}
