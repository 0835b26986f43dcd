# PostgreSQL for EventDB and OrderDB (one database, both sets of tables) with RDS Proxy in front.
# Every onsale process keeps its own pool (ONSALE_DATABASE_MAX_CONNECTIONS, 20 by default), and a
# scale-out of serve tasks during an onsale would multiply those connections; the proxy holds
# them and multiplexes them onto a bounded number of server connections.
#
# No password passes through Terraform: RDS generates the master password into a Secrets
# Manager secret of its own (manage_master_user_password), and the application user's password
# is put into app_credentials_secret_arn out of band.

data "aws_partition" "current" {}

resource "aws_security_group" "database" {
  name        = "${var.name}-postgres"
  description = "RDS PostgreSQL of onsale, reached through RDS Proxy only"
  vpc_id      = var.vpc_id
}

resource "aws_security_group" "proxy" {
  # checkov:skip=CKV2_AWS_5: Attached to aws_db_proxy.proxy below (vpc_security_group_ids), a resource type that checkov does not count as an attachment.
  name        = "${var.name}-postgres-proxy"
  description = "RDS Proxy in front of onsale's PostgreSQL"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "proxy_from_clients" {
  for_each = toset(var.client_security_group_ids)

  security_group_id            = aws_security_group.proxy.id
  description                  = "PostgreSQL from onsale tasks"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "proxy_to_database" {
  security_group_id            = aws_security_group.proxy.id
  description                  = "PostgreSQL to the RDS instance"
  referenced_security_group_id = aws_security_group.database.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_ingress_rule" "database_from_proxy" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from RDS Proxy"
  referenced_security_group_id = aws_security_group.proxy.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_db_subnet_group" "database" {
  name       = "${var.name}-postgres"
  subnet_ids = var.subnet_ids
}

resource "aws_db_parameter_group" "database" {
  name   = "${var.name}-postgres${var.engine_version}"
  family = "postgres${var.engine_version}"

  # Log every statement slower than 500 ms and every lock wait longer than deadlock_timeout, so a
  # slow confirm during an onsale shows up in the logs with its query.
  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  # Reject plain connections to the instance. RDS Proxy connects to the instance over TLS, and
  # PostgreSQL 15 and later on RDS already default to this.
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_lock_waits"
    value = "1"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }
}

data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "database" {
  identifier     = "${var.name}-postgres"
  engine         = "postgres"
  engine_version = var.engine_version
  instance_class = var.instance_class
  multi_az       = var.multi_az

  db_name                       = var.database_name
  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn

  allocated_storage     = var.allocated_storage_gb
  max_allocated_storage = var.max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.database.name
  vpc_security_group_ids = [aws_security_group.database.id]
  parameter_group_name   = aws_db_parameter_group.database.name
  publicly_accessible    = false

  backup_retention_period   = var.backup_retention_days
  maintenance_window        = var.maintenance_window
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-postgres-final"

  auto_minor_version_upgrade      = true
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]
  monitoring_interval             = 30
  monitoring_role_arn             = aws_iam_role.monitoring.arn

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7

  # checkov:skip=CKV_AWS_161: IAM database authentication needs a token signer in the client; onsale logs in with a password from Secrets Manager through RDS Proxy.
}

data "aws_iam_policy_document" "proxy_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "proxy" {
  name               = "${var.name}-rds-proxy"
  assume_role_policy = data.aws_iam_policy_document.proxy_assume.json
}

data "aws_iam_policy_document" "proxy_secrets" {
  statement {
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      var.app_credentials_secret_arn,
      aws_db_instance.database.master_user_secret[0].secret_arn,
    ]
  }

  statement {
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${data.aws_region.current.region}.amazonaws.com"]
    }
  }
}

data "aws_region" "current" {}

resource "aws_iam_role_policy" "proxy_secrets" {
  name   = "read-database-logins"
  role   = aws_iam_role.proxy.id
  policy = data.aws_iam_policy_document.proxy_secrets.json
}

resource "aws_db_proxy" "proxy" {
  name                   = "${var.name}-postgres"
  engine_family          = "POSTGRESQL"
  role_arn               = aws_iam_role.proxy.arn
  vpc_subnet_ids         = var.subnet_ids
  vpc_security_group_ids = [aws_security_group.proxy.id]
  require_tls            = var.proxy_require_tls
  idle_client_timeout    = 1800
  debug_logging          = false

  # The application user, for onsale's processes.
  auth {
    auth_scheme               = "SECRETS"
    secret_arn                = var.app_credentials_secret_arn
    iam_auth                  = "DISABLED"
    client_password_auth_type = "POSTGRES_SCRAM_SHA_256"
    description               = "onsale application user"
  }

  # The master user, for the one-off database admin task that creates the application user.
  auth {
    auth_scheme               = "SECRETS"
    secret_arn                = aws_db_instance.database.master_user_secret[0].secret_arn
    iam_auth                  = "DISABLED"
    client_password_auth_type = "POSTGRES_SCRAM_SHA_256"
    description               = "RDS-managed master user"
  }
}

resource "aws_db_proxy_default_target_group" "proxy" {
  db_proxy_name = aws_db_proxy.proxy.name

  connection_pool_config {
    # Leave a fifth of max_connections to direct admin sessions and RDS itself.
    max_connections_percent      = 80
    max_idle_connections_percent = 40
    connection_borrow_timeout    = 3
  }
}

resource "aws_db_proxy_target" "database" {
  db_proxy_name          = aws_db_proxy.proxy.name
  target_group_name      = aws_db_proxy_default_target_group.proxy.name
  db_instance_identifier = aws_db_instance.database.identifier
}
