output "nodes_sg_id" {
  description = "Security group of the EKS nodes."
  value       = aws_security_group.nodes.id
}

output "rds_sg_id" {
  description = "Security group of the RDS instance."
  value       = aws_security_group.rds.id
}

output "qdrant_sg_id" {
  description = "Security group of the Qdrant instance."
  value       = aws_security_group.qdrant.id
}

output "bastion_sg_id" {
  description = "Security group of the OpenVPN bastion."
  value       = aws_security_group.bastion.id
}
