# A full onsale deployment: every module of terraform/modules composed into one stack.
# docs/DEPLOY.md gives the order of the applies, the secrets to fill and the sizing.

locals {
  image = "${module.ecs_cluster.repository_url}:${var.image_tag}"

  # The onsale binary as of this version connects to Kafka without TLS; see docs/DEPLOY.md,
  # "TLS between onsale and the engines".
  kafka_brokers = var.kafka_client_broker_encryption == "TLS" ? module.kafka.bootstrap_brokers_tls : module.kafka.bootstrap_brokers_plaintext

  kafka_environment = {
    ONSALE_KAFKA_BROKERS     = local.kafka_brokers
    ONSALE_KAFKA_PARTITIONS  = tostring(module.kafka.partitions)
    ONSALE_KAFKA_REPLICATION = tostring(module.kafka.replication_factor)
  }

  common_environment = {
    ONSALE_LOG_FORMAT = "json"
  }

  secret = module.secrets.environment_secret_arns

  # Environment and secrets per role: each role gets only what its command reads.
  roles = {
    serve = {
      command = ["serve"]
      environment = merge(local.common_environment, local.kafka_environment, {
        ONSALE_LISTEN             = "0.0.0.0:8080"
        ONSALE_REDIS_URL          = module.redis.url
        ONSALE_REDIS_QUEUE_SHARDS = tostring(module.redis.shards)
        ONSALE_ADMISSION_RATE     = tostring(var.admission_rate)
      })
      secrets = {
        ONSALE_DATABASE_URL      = local.secret["ONSALE_DATABASE_URL"]
        ONSALE_TOKEN_SIGNING_KEY = local.secret["ONSALE_TOKEN_SIGNING_KEY"]
        ONSALE_SESSION_SECRET    = local.secret["ONSALE_SESSION_SECRET"]
        ONSALE_ADMIN_TOKEN       = local.secret["ONSALE_ADMIN_TOKEN"]
      }
    }
    notification = {
      command = ["worker", "notification"]
      environment = merge(local.common_environment, local.kafka_environment, {
        ONSALE_REDIS_URL = module.redis.url
      })
      secrets = {
        ONSALE_DATABASE_URL = local.secret["ONSALE_DATABASE_URL"]
      }
    }
    ticket = {
      command = ["worker", "ticket"]
      environment = merge(local.common_environment, local.kafka_environment, {
        ONSALE_MAIL_FROM = var.mail_from
        # Used only without SMTP: the task's scratch volume, lost when the task stops.
        ONSALE_MAIL_DIR = "/data/mail"
      })
      secrets = merge(
        {
          ONSALE_DATABASE_URL       = local.secret["ONSALE_DATABASE_URL"]
          ONSALE_TICKET_SIGNING_KEY = local.secret["ONSALE_TICKET_SIGNING_KEY"]
        },
        var.smtp_enabled ? { ONSALE_SMTP_URL = local.secret["ONSALE_SMTP_URL"] } : {},
      )
    }
    expiry = {
      command = ["worker", "expiry"]
      environment = merge(local.common_environment, local.kafka_environment, {
        ONSALE_REDIS_URL = module.redis.url
      })
      secrets = {
        ONSALE_DATABASE_URL = local.secret["ONSALE_DATABASE_URL"]
      }
    }
  }
}

module "kms" {
  source = "../../modules/kms"

  name = var.name
}

module "network" {
  source = "../../modules/network"

  name               = var.name
  cidr_block         = var.vpc_cidr_block
  single_nat_gateway = var.single_nat_gateway
  log_kms_key_arn    = module.kms.key_arn
}

module "logs" {
  source = "../../modules/logs"

  name          = var.name
  force_destroy = var.force_destroy
}

module "secrets" {
  source = "../../modules/secrets"

  name         = var.name
  kms_key_arn  = module.kms.key_arn
  smtp_enabled = var.smtp_enabled

  recovery_window_in_days = var.secret_recovery_window_days
}

module "alb" {
  source = "../../modules/alb"

  name                = var.name
  vpc_id              = module.network.vpc_id
  subnet_ids          = module.network.public_subnet_ids
  certificate_arn     = var.alb_certificate_arn
  deletion_protection = var.deletion_protection
  access_log_bucket   = module.logs.bucket_id
  access_log_prefix   = module.logs.alb_prefix
}

module "ecs_cluster" {
  source = "../../modules/ecs-cluster"

  name                  = var.name
  vpc_id                = module.network.vpc_id
  vpc_cidr_block        = module.network.vpc_cidr_block
  alb_security_group_id = module.alb.security_group_id
  kms_key_arn           = module.kms.key_arn
  ecr_force_delete      = var.force_destroy
}

module "redis" {
  source = "../../modules/redis"

  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.data_subnet_ids
  client_security_group_ids = [module.ecs_cluster.task_security_group_id]
  node_type                 = var.redis_node_type
  shards                    = var.redis_shards
  replicas_per_shard        = var.redis_replicas_per_shard
  transit_encryption_mode   = var.redis_transit_encryption_mode
  kms_key_arn               = module.kms.key_arn
  log_retention_days        = var.log_retention_days
}

module "kafka" {
  source = "../../modules/kafka"

  name                      = var.name
  vpc_id                    = module.network.vpc_id
  subnet_ids                = module.network.data_subnet_ids
  client_security_group_ids = [module.ecs_cluster.task_security_group_id]
  broker_instance_type      = var.kafka_broker_instance_type
  broker_volume_size_gb     = var.kafka_broker_volume_size_gb
  topics                    = var.kafka_topics
  client_broker_encryption  = var.kafka_client_broker_encryption
  kms_key_arn               = module.kms.key_arn
  log_retention_days        = var.log_retention_days
}

module "postgres" {
  source = "../../modules/postgres"

  name                       = var.name
  vpc_id                     = module.network.vpc_id
  subnet_ids                 = module.network.data_subnet_ids
  client_security_group_ids  = [module.ecs_cluster.task_security_group_id]
  instance_class             = var.db_instance_class
  multi_az                   = var.db_multi_az
  app_credentials_secret_arn = module.secrets.secret_arns["database-credentials"]
  proxy_require_tls          = var.db_proxy_require_tls
  deletion_protection        = var.deletion_protection
  kms_key_arn                = module.kms.key_arn
}

module "service" {
  source   = "../../modules/ecs-service"
  for_each = local.roles

  name             = "${var.name}-${each.key}"
  cluster_id       = module.ecs_cluster.cluster_id
  cluster_name     = module.ecs_cluster.cluster_name
  image            = local.image
  cpu_architecture = var.cpu_architecture
  command          = each.value.command
  cpu              = var.services[each.key].cpu
  memory           = var.services[each.key].memory
  environment      = each.value.environment
  secrets          = each.value.secrets
  secret_arns      = values(each.value.secrets)
  kms_key_arn      = module.kms.key_arn

  subnet_ids         = module.network.service_subnet_ids
  security_group_ids = [module.ecs_cluster.task_security_group_id]

  # Only serve takes HTTP traffic, and it scales on ALB requests per task; the workers scale on
  # CPU. A Kafka consumer beyond the partition count gets no partition, so max_capacity of
  # notification and ticket should not exceed the partitions.
  container_port     = each.key == "serve" ? 8080 : null
  target_group_arn   = each.key == "serve" ? module.alb.target_group_arn : null
  scaling_metric     = each.key == "serve" ? "alb_requests" : "cpu"
  alb_resource_label = each.key == "serve" ? "${module.alb.arn_suffix}/${module.alb.target_group_arn_suffix}" : null
  scaling_target     = var.services[each.key].scaling_target
  scheduled_capacity = each.key == "serve" ? var.serve_scheduled_capacity : []

  enabled            = var.services_enabled
  min_capacity       = var.services[each.key].min_capacity
  max_capacity       = var.services[each.key].max_capacity
  log_retention_days = var.log_retention_days
}

# One-off onsale commands (migrate, seed, import-plan) run as tasks of this definition, with the
# command overridden at `aws ecs run-task`.
module "onsale_tools" {
  source = "../../modules/ecs-service"

  name             = "${var.name}-tools"
  run_as_service   = false
  cluster_id       = module.ecs_cluster.cluster_id
  cluster_name     = module.ecs_cluster.cluster_name
  image            = local.image
  cpu_architecture = var.cpu_architecture
  command          = ["migrate"]
  cpu              = 1024
  memory           = 2048
  environment      = local.common_environment
  secrets          = { ONSALE_DATABASE_URL = local.secret["ONSALE_DATABASE_URL"] }
  secret_arns      = [local.secret["ONSALE_DATABASE_URL"]]
  kms_key_arn      = module.kms.key_arn

  subnet_ids         = module.network.service_subnet_ids
  security_group_ids = [module.ecs_cluster.task_security_group_id]
  log_retention_days = var.log_retention_days
}

# Creates (or updates the password of) the application user `onsale` with the master login that
# RDS keeps in Secrets Manager, from the official PostgreSQL image. Passwords reach psql only as
# secrets injected by ECS: never in the command, the task definition or the state.
module "database_admin" {
  source = "../../modules/ecs-service"

  name             = "${var.name}-database-admin"
  run_as_service   = false
  cluster_id       = module.ecs_cluster.cluster_id
  cluster_name     = module.ecs_cluster.cluster_name
  image            = "public.ecr.aws/docker/library/postgres:15-alpine"
  cpu_architecture = "X86_64"
  cpu              = 256
  memory           = 512
  command = [
    "sh", "-c",
    <<-EOT
      psql -v ON_ERROR_STOP=1 -v app_password="$APP_PASSWORD" <<'SQL'
      SELECT 'CREATE ROLE onsale LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'onsale') \gexec
      ALTER ROLE onsale WITH LOGIN PASSWORD :'app_password';
      GRANT CONNECT, CREATE ON DATABASE ${module.postgres.database_name} TO onsale;
      GRANT ALL ON SCHEMA public TO onsale;
      SQL
    EOT
  ]
  environment = {
    PGHOST     = module.postgres.proxy_endpoint
    PGPORT     = "5432"
    PGDATABASE = module.postgres.database_name
    PGSSLMODE  = "require"
  }
  secrets = {
    PGUSER       = "${module.postgres.master_user_secret_arn}:username::"
    PGPASSWORD   = "${module.postgres.master_user_secret_arn}:password::"
    APP_PASSWORD = "${module.secrets.secret_arns["database-credentials"]}:password::"
  }
  secret_arns = [
    module.postgres.master_user_secret_arn,
    module.secrets.secret_arns["database-credentials"],
  ]
  kms_key_arn = module.kms.key_arn

  subnet_ids         = module.network.service_subnet_ids
  security_group_ids = [module.ecs_cluster.task_security_group_id]
  log_retention_days = var.log_retention_days
}

module "cdn" {
  source = "../../modules/cdn"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }

  name                   = var.name
  domain_name            = var.domain_name
  certificate_arn        = var.cloudfront_certificate_arn
  origin_domain_name     = var.origin_domain_name
  edge_package_dir       = var.edge_package_dir
  edge_handler           = var.edge_handler
  log_bucket_domain_name = module.logs.bucket_domain_name
  log_bucket_id          = module.logs.bucket_id
  frontend_force_destroy = var.force_destroy
  waf_enabled            = var.waf_enabled
}

resource "aws_route53_record" "public" {
  count = var.route53_zone_id == null ? 0 : 1

  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = module.cdn.distribution_domain_name
    zone_id                = module.cdn.distribution_hosted_zone_id
    evaluate_target_health = false
  }
}

resource "aws_route53_record" "origin" {
  count = var.route53_zone_id == null ? 0 : 1

  zone_id = var.route53_zone_id
  name    = var.origin_domain_name
  type    = "A"

  alias {
    name                   = module.alb.dns_name
    zone_id                = module.alb.zone_id
    evaluate_target_health = true
  }
}
