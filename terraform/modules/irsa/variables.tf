variable "name" {
  description = "Name prefix of the IAM roles."
  type        = string
}

variable "oidc_provider_arn" {
  description = "ARN of the cluster's IAM OIDC provider."
  type        = string
}

variable "oidc_issuer_url" {
  description = "Issuer URL of the cluster (https://oidc.eks.<region>.amazonaws.com/id/<id>)."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the Faro workloads."
  type        = string
  default     = "faro"
}

variable "service_accounts" {
  description = "Service account name of each workload."
  type = object({
    chunker     = string
    embedder    = string
    query       = string
    consistency = string
    operator    = string
  })
  default = {
    chunker     = "faro-chunker"
    embedder    = "faro-embedder"
    query       = "faro-query"
    consistency = "faro-consistency"
    operator    = "faro-operator"
  }
}

variable "operator_namespace" {
  description = "Namespace of the operator's service account."
  type        = string
  default     = "faro-system"
}

variable "bucket_arn" {
  description = "ARN of the chunk bucket."
  type        = string
}

variable "key_prefix" {
  description = "Key prefix of the chunk objects (no trailing slash)."
  type        = string
  default     = "chunks"
}

variable "source_prefix" {
  description = "Key prefix of a bucket source of raw documents in the same bucket (no trailing slash), or null for none."
  type        = string
  default     = null
}

variable "queue_arn" {
  description = "ARN of the chunk notification queue."
  type        = string
}

variable "dlq_arn" {
  description = "ARN of the dead-letter queue."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "keda_service_account" {
  description = "KEDA operator's service account (namespace, name) when KEDA scales the embedder: it gets a role allowed to assume the embedder's, which trusts it back. Null for none."
  type = object({
    namespace = string
    name      = string
  })
  default = null
}
