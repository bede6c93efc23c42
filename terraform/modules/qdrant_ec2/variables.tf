variable "name" {
  description = "Name prefix of the Qdrant resources."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet of the instance."
  type        = string
}

variable "node_count" {
  description = "Qdrant nodes. One runs alone; more form a Qdrant cluster (distributed mode, peers on port 6335): node 0 starts it, the others join it. A Collection's spec.qdrant.cluster sets the shards and replicas, and its external.peerAddresses takes the other nodes' addresses (output private_ips)."
  type        = number
  default     = 1

  validation {
    condition     = var.node_count >= 1 && var.node_count <= 9 && floor(var.node_count) == var.node_count
    error_message = "node_count must be a whole number from 1 to 9."
  }
}

variable "peer_subnet_ids" {
  description = "Private subnets of nodes 1 and up, used in turn (put them in other zones); empty: subnet_id."
  type        = list(string)
  default     = []
}

variable "security_group_id" {
  description = "The Qdrant security group (from the security_groups module)."
  type        = string
}

variable "ami_id" {
  description = "AMI of the instance (Amazon Linux 2023, x86_64 or arm64 matching instance_type); it must have the AWS CLI."
  type        = string
}

variable "instance_type" {
  description = "Instance type."
  type        = string
  default     = "r6i.large"
}

variable "qdrant_version" {
  description = "Qdrant release installed from GitHub (the tag without the v)."
  type        = string
  default     = "1.12.4"
}

variable "api_key_parameter_arn" {
  description = "ARN of an existing SSM SecureString parameter holding the Qdrant API key (created outside Terraform so the key never enters the state)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+$", var.api_key_parameter_arn))
    error_message = "api_key_parameter_arn must be an SSM parameter ARN."
  }
}

variable "data_volume_size" {
  description = "Size of the encrypted data volume in GiB."
  type        = number
  default     = 100
}

variable "kms_key_id" {
  description = "KMS key ARN for the EBS volumes; null uses the AWS managed EBS key."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
