output "region" {
  description = "AWS region."
  value       = var.region
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...)."
  value       = module.eks.cluster_name
}

output "rds_endpoint" {
  description = "PostgreSQL endpoint (host:port)."
  value       = module.rds.endpoint
}

output "rds_address" {
  description = "PostgreSQL host name."
  value       = module.rds.address
}

output "rds_db_name" {
  description = "PostgreSQL database name."
  value       = module.rds.db_name
}

output "rds_master_secret_arn" {
  description = "Secrets Manager ARN of the RDS master credentials."
  value       = module.rds.master_user_secret_arn
}

output "qdrant_private_ip" {
  description = "Private IP of Qdrant (http://<ip>:6333, gRPC 6334); of node 0 in a cluster: a Collection's external.address."
  value       = module.qdrant.private_ip
}

output "qdrant_private_ips" {
  description = "Private IPs of every Qdrant node, node 0 first (the others: a Collection's external.peerAddresses)."
  value       = module.qdrant.private_ips
}

output "rds_read_address" {
  description = "Host of the RDS read replica (null without one): the query service's read endpoint (readDsnSecretRef)."
  value       = module.rds.read_address
}

output "qdrant_api_key_parameter_arn" {
  description = "SSM parameter of the Qdrant API key."
  value       = var.qdrant_api_key_parameter_arn
}

output "chunk_bucket" {
  description = "Chunk bucket name."
  value       = module.chunk_storage.bucket_name
}

output "chunk_key_prefix" {
  description = "Chunk key prefix."
  value       = module.chunk_storage.key_prefix
}

output "chunk_queue_url" {
  description = "URL of the chunk notification queue."
  value       = module.chunk_storage.queue_url
}

output "chunk_dlq_url" {
  description = "URL of the dead-letter queue."
  value       = module.chunk_storage.dlq_url
}

output "irsa_role_arns" {
  description = "IAM role per workload service account (chunker, embedder, query, operator)."
  value       = module.irsa.role_arns
}

output "vpn_endpoint" {
  description = "Public IP of the OpenVPN bastion."
  value       = module.bastion.public_ip
}

output "keda_operator_role_arn" {
  description = "Annotate KEDA's operator service account with it (eks.amazonaws.com/role-arn); null without keda_service_account."
  value       = module.irsa.keda_operator_role_arn
}
