# Secrets Manager secrets for onsale's keys and connection strings, created empty. Terraform
# never sees a value: there is no aws_secretsmanager_secret_version here, so no value sits in a
# variable, a plan or the state. An operator fills each secret once, out of band
# (docs/DEPLOY.md, "Fill the secrets"), and ECS injects it into the containers by ARN.

locals {
  secrets = merge(
    {
      # Environment variables of the onsale binary.
      token-signing-key  = { env = "ONSALE_TOKEN_SIGNING_KEY", description = "Admission-token signing key (Ed25519 seed, base64) from onsale keygen." }
      ticket-signing-key = { env = "ONSALE_TICKET_SIGNING_KEY", description = "Ticket-secret signing key (Ed25519 seed, base64) from onsale keygen." }
      session-secret     = { env = "ONSALE_SESSION_SECRET", description = "Fan-session HMAC secret (base64) from onsale keygen." }
      admin-token        = { env = "ONSALE_ADMIN_TOKEN", description = "Bearer token of the operator API from onsale keygen." }
      database-url       = { env = "ONSALE_DATABASE_URL", description = "postgres://onsale:PASSWORD@RDS_PROXY_ENDPOINT:5432/onsale" }
      # Read by RDS Proxy, not by onsale: the application user's login as JSON.
      database-credentials = { env = "", description = "JSON {\"username\":\"onsale\",\"password\":\"PASSWORD\"} that RDS Proxy uses to log in as the application user." }
    },
    var.smtp_enabled ? {
      smtp-url = { env = "ONSALE_SMTP_URL", description = "SMTP server URL with credentials, for example smtps://USER:PASSWORD@smtp.example.com." }
    } : {},
  )
}

resource "aws_secretsmanager_secret" "this" {
  for_each = local.secrets

  # checkov:skip=CKV2_AWS_57: Rotation needs a rotation function per secret kind, and rotating a signing key invalidates every live admission token or printed ticket; docs/DEPLOY.md describes the manual rotation.
  name                    = "${var.name}/${each.key}"
  description             = each.value.description
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_in_days
}
