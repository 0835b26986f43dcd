# MSK over three availability zones for the two onsale topics, keyed by event.
#
# The AWS provider has no resource for Kafka topics. onsale creates both topics itself when a
# role starts (ONSALE_KAFKA_PARTITIONS, ONSALE_KAFKA_REPLICATION), so this module sets the broker
# defaults to match and prints the one-off commands for per-topic retention.

locals {
  max_partitions      = max([for topic in values(var.topics) : topic.partitions]...)
  max_retention_hours = max([for topic in values(var.topics) : topic.retention_hours]...)

  client_ports = concat(
    [9094],
    var.client_broker_encryption == "TLS_PLAINTEXT" ? [9092] : [],
    var.sasl_scram_enabled ? [9096] : [],
  )
}

resource "aws_security_group" "kafka" {
  name        = "${var.name}-kafka"
  description = "MSK brokers of onsale"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "clients" {
  for_each = {
    for pair in setproduct(var.client_security_group_ids, local.client_ports) : "${pair[0]}-${pair[1]}" => pair
  }

  security_group_id            = aws_security_group.kafka.id
  description                  = "Kafka from onsale tasks"
  referenced_security_group_id = each.value[0]
  ip_protocol                  = "tcp"
  from_port                    = each.value[1]
  to_port                      = each.value[1]
}

resource "aws_msk_configuration" "kafka" {
  name           = "${var.name}-kafka"
  kafka_versions = [var.kafka_version]

  # min.insync.replicas=2 with replication 3 lets the TicketStream (produced with acks=all)
  # keep accepting writes with one zone down, and lose no acknowledged ticket.
  server_properties = <<-EOT
    auto.create.topics.enable=false
    default.replication.factor=${var.replication_factor}
    min.insync.replicas=${min(2, var.replication_factor)}
    num.partitions=${local.max_partitions}
    log.retention.hours=${local.max_retention_hours}
    unclean.leader.election.enable=false
  EOT
}

resource "aws_cloudwatch_log_group" "kafka" {
  name              = "/onsale/${var.name}/kafka/brokers"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_msk_cluster" "kafka" {
  # checkov:skip=CKV_AWS_81: client_broker is "TLS" unless a caller opts into TLS_PLAINTEXT, and in_cluster is always true. Scanning this module alone passes; checkov 3.3.30 cannot read the value of client_broker when it scans the example roots that call this module.
  cluster_name           = "${var.name}-kafka"
  kafka_version          = var.kafka_version
  number_of_broker_nodes = 3 * var.brokers_per_zone

  broker_node_group_info {
    instance_type   = var.broker_instance_type
    client_subnets  = var.subnet_ids
    security_groups = [aws_security_group.kafka.id]

    storage_info {
      ebs_storage_info {
        volume_size = var.broker_volume_size_gb
      }
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.kafka.arn
    revision = aws_msk_configuration.kafka.latest_revision
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = var.kms_key_arn

    encryption_in_transit {
      client_broker = var.client_broker_encryption
      in_cluster    = true
    }
  }

  # Unauthenticated TLS: any client that reaches a broker may produce and consume, and only the
  # onsale tasks' security group reaches them. SCRAM adds per-client passwords on top. IAM
  # authentication would need an OAUTHBEARER token signer in the client; docs/DEPLOY.md explains
  # why onsale does not use it.
  client_authentication {
    unauthenticated = true

    dynamic "sasl" {
      for_each = var.sasl_scram_enabled ? [1] : []

      content {
        scram = true
      }
    }
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.kafka.name
      }
    }
  }

  enhanced_monitoring = "PER_TOPIC_PER_BROKER"
}
