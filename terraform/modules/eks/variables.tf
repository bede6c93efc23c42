variable "cluster_name" {
  description = "Name of the EKS cluster."
  type        = string
}

variable "kubernetes_version" {
  description = "Kubernetes version of the control plane and the node group."
  type        = string
  default     = "1.34"
}

variable "private_subnet_ids" {
  description = "Private subnets of the control plane ENIs and the nodes."
  type        = list(string)
}

variable "node_security_group_id" {
  description = "The node security group (from the security_groups module), added to every node."
  type        = string
}

variable "api_access_security_group_ids" {
  description = "Security groups (e.g. the bastion) allowed to reach the private API endpoint on 443."
  type        = list(string)
  default     = []
}

variable "endpoint_public_access" {
  description = "Expose the API endpoint publicly (off: reach it through the VPN bastion)."
  type        = bool
  default     = false
}

variable "node_instance_type" {
  description = "Instance type of the managed node group."
  type        = string
  default     = "t3.medium"
}

variable "node_min_size" {
  description = "Minimum number of nodes."
  type        = number
  default     = 2
}

variable "node_max_size" {
  description = "Maximum number of nodes."
  type        = number
  default     = 4
}

variable "node_desired_size" {
  description = "Initial number of nodes."
  type        = number
  default     = 2
}

variable "node_disk_size" {
  description = "Root volume size of the nodes in GiB."
  type        = number
  default     = 50
}

variable "oidc_thumbprints" {
  description = "Root CA thumbprints of the OIDC issuer; empty lets AWS use its trusted CA store (no tls provider needed offline)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
