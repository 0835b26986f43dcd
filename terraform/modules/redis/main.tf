# ElastiCache in cluster mode for the hold store, the queues and the availability bitmaps.
# Every key of one event carries the event as a Redis Cluster hash tag, so each Lua script runs
# on one shard; the client discovers the shards through the configuration endpoint.

resource "aws_security_group" "redis" {
  name        = "${var.name}-redis"
  description = "ElastiCache for the onsale hold store"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each = toset(var.client_security_group_ids)

  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from onsale tasks"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

resource "aws_elasticache_subnet_group" "redis" {
  name       = "${var.name}-redis"
  subnet_ids = var.subnet_ids
}

resource "aws_elasticache_parameter_group" "redis" {
  name   = "${var.name}-redis"
  family = var.parameter_group_family

  # A custom parameter group for cluster mode must switch cluster mode on itself.
  parameter {
    name  = "cluster-enabled"
    value = "yes"
  }

  # Seat holds are keys with a TTL. ElastiCache's default, volatile-lru, evicts keys that have a
  # TTL when memory runs out, which would free held seats without telling anyone. With
  # noeviction a full node rejects writes instead: the hold fails with a clear error (503) and
  # no seat changes hands silently.
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

resource "aws_cloudwatch_log_group" "redis" {
  for_each = toset(["slow-log", "engine-log"])

  name              = "/onsale/${var.name}/redis/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_elasticache_replication_group" "redis" {
  replication_group_id = "${var.name}-holds"
  description          = "onsale hold store, queues and availability bitmaps"

  engine               = var.engine
  engine_version       = var.engine_version
  node_type            = var.node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.redis.name

  cluster_mode               = "enabled"
  num_node_groups            = var.shards
  replicas_per_node_group    = var.replicas_per_shard
  automatic_failover_enabled = true
  multi_az_enabled           = true

  subnet_group_name  = aws_elasticache_subnet_group.redis.name
  security_group_ids = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = var.kms_key_arn
  transit_encryption_enabled = true
  transit_encryption_mode    = var.transit_encryption_mode

  snapshot_retention_limit   = var.snapshot_retention_limit
  maintenance_window         = var.maintenance_window
  auto_minor_version_upgrade = true
  apply_immediately          = false

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.redis["slow-log"].name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "slow-log"
  }

  log_delivery_configuration {
    destination      = aws_cloudwatch_log_group.redis["engine-log"].name
    destination_type = "cloudwatch-logs"
    log_format       = "json"
    log_type         = "engine-log"
  }

  # checkov:skip=CKV_AWS_31: No AUTH token, because Terraform would keep it in its state. Access is limited to the onsale tasks' security group, and traffic is TLS; docs/DEPLOY.md shows how to add a token out of band.
}
