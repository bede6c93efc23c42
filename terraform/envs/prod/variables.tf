variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "environment" {
  description = "Environment name, used as the name prefix."
  type        = string
  default     = "prod"
}

variable "azs" {
  description = "Availability zones (2 or 3)."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}

variable "vpc_cidr" {
  description = "CIDR of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "vpn_client_cidr" {
  description = "Public CIDR of the VPN clients (office / home egress), the only internet ingress."
  type        = string
}

variable "chunk_bucket_name" {
  description = "Globally unique name of the chunk bucket."
  type        = string
}

variable "chunk_key_prefix" {
  description = "Key prefix of the chunk objects."
  type        = string
  default     = "chunks"
}

variable "source_documents_prefix" {
  description = "Key prefix of a bucket source of raw documents in the chunk bucket (RagPipeline spec.source.documents.prefix), or null for none."
  type        = string
  default     = null
}

variable "qdrant_api_key_parameter_arn" {
  description = "ARN of the SSM SecureString holding the Qdrant API key (create it before applying)."
  type        = string
}

variable "qdrant_ami_id" {
  description = "Amazon Linux 2023 AMI for the Qdrant instance."
  type        = string
}

variable "bastion_ami_id" {
  description = "Amazon Linux 2023 AMI for the bastion."
  type        = string
}

variable "bastion_key_name" {
  description = "EC2 key pair of the bastion; null for none."
  type        = string
  default     = null
}

variable "kubernetes_version" {
  description = "EKS version."
  type        = string
  default     = "1.34"
}

variable "workload_namespace" {
  description = "Namespace of the Faro workloads."
  type        = string
  default     = "faro"
}

variable "operator_namespace" {
  description = "Namespace of the Faro operator."
  type        = string
  default     = "faro-system"
}

variable "qdrant_node_count" {
  description = "Qdrant nodes (more than one: a Qdrant cluster spread over the private subnets' zones)."
  type        = number
  default     = 1
}

variable "keda_service_account" {
  description = "KEDA operator's service account when KEDA scales the embedders (e.g. {namespace = \"keda\", name = \"keda-operator\"}): a role for it that may assume the embedder's (output keda_operator_role_arn). Null without KEDA."
  type = object({
    namespace = string
    name      = string
  })
  default = null
}

variable "rds_read_replica" {
  description = "Create an RDS read replica for the query service's searches (output rds_read_address)."
  type        = bool
  default     = false
}
