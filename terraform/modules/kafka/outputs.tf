output "bootstrap_brokers_tls" {
  description = "Bootstrap servers on the TLS listener (port 9094)."
  value       = aws_msk_cluster.kafka.bootstrap_brokers_tls
}

output "bootstrap_brokers_plaintext" {
  description = "Bootstrap servers on the plaintext listener (port 9092); empty unless client_broker_encryption is TLS_PLAINTEXT."
  value       = aws_msk_cluster.kafka.bootstrap_brokers
}

output "bootstrap_brokers_sasl_scram" {
  description = "Bootstrap servers on the SASL/SCRAM listener (port 9096); empty unless sasl_scram_enabled."
  value       = aws_msk_cluster.kafka.bootstrap_brokers_sasl_scram
}

output "partitions" {
  description = "Value for ONSALE_KAFKA_PARTITIONS: the largest partition count of the topics."
  value       = local.max_partitions
}

output "replication_factor" {
  description = "Value for ONSALE_KAFKA_REPLICATION."
  value       = var.replication_factor
}

output "topic_override_commands" {
  description = "kafka-configs.sh commands that give each topic its own retention, to run once after onsale has created the topics."
  value = [
    for name, topic in var.topics :
    "kafka-configs.sh --bootstrap-server \"$BOOTSTRAP\" --command-config client.properties --alter --entity-type topics --entity-name ${name} --add-config retention.ms=${topic.retention_hours * 3600000}"
    if topic.retention_hours != local.max_retention_hours
  ]
}

output "security_group_id" {
  description = "Security group of the brokers."
  value       = aws_security_group.kafka.id
}
