output "configuration_endpoint" {
  description = "Configuration endpoint (host) through which a cluster client discovers every shard."
  value       = aws_elasticache_replication_group.redis.configuration_endpoint_address
}

output "port" {
  description = "Redis port."
  value       = aws_elasticache_replication_group.redis.port
}

output "url" {
  description = "Value for ONSALE_REDIS_URL: rediss:// when TLS is required, redis:// when plain connections are still accepted."
  value       = "${var.transit_encryption_mode == "required" ? "rediss" : "redis"}://${aws_elasticache_replication_group.redis.configuration_endpoint_address}:${aws_elasticache_replication_group.redis.port}"
}

output "security_group_id" {
  description = "Security group of the Redis nodes."
  value       = aws_security_group.redis.id
}

output "shards" {
  description = "Number of shards, the value for ONSALE_REDIS_QUEUE_SHARDS: one queue shard per primary."
  value       = var.shards
}
