"""What checkov must find in Faro's infrastructure code: the policy of ``tests/integration/test_checkov.py``.

checkov (``scripts/install-checkov.sh``, version pinned there) scans ``terraform/`` with ``--framework
terraform`` and, with ``--framework kubernetes``, the rendered install manifests (``kubectl kustomize`` of
``operator/deploy/base`` and ``operator/deploy/overlays/eks``) and what ``faro render`` makes of the examples
(``examples/kubernetes`` and its ``eks`` folder: the pipeline's Deployments, CronJob, Services, RBAC, ...).
Per framework:

- ``ENFORCED``: check id -> the property it guarantees. Each must run on at least one resource and pass on
  every resource it runs on.
- ``SKIPPED``: check id -> why it does not apply to Faro. These may fail anywhere; each must still fail
  somewhere, so the list never holds a check that passes again.
- ``EXCEPTIONS``: (check id, resource) -> why that check fails on that resource although it holds
  everywhere else (a wrong finding, or a deliberate choice for one resource). The resource is checkov's
  name of it (its Terraform address, or ``Kind.namespace.name``); an address without an index covers every
  ``count``/``for_each`` instance. The check stays enforced on every other resource. Each exception must
  still match a failure.

Any other failing check fails the test: a new finding is either fixed or written down here with a reason.
Checks that pass without being listed are not held to anything (checkov runs a few hundred, most of them about
things Faro does not use). checkov's inline ``#checkov:skip`` comments are not used: every decision is here.
"""

from __future__ import annotations

TERRAFORM = "terraform"
KUBERNETES = "kubernetes"
FRAMEWORKS = (TERRAFORM, KUBERNETES)

ENFORCED: dict[str, dict[str, str]] = {
    TERRAFORM: {
        # RDS PostgreSQL (modules/rds).
        "CKV_AWS_16": "RDS storage is encrypted at rest",
        "CKV_AWS_17": "RDS is not publicly accessible",
        "CKV_AWS_133": "RDS keeps automated backups (backup_retention_period, at least 7 days)",
        "CKV_AWS_293": "RDS has deletion protection (var.deletion_protection, default true)",
        "CKV_AWS_157": "RDS runs Multi-AZ",
        "CKV2_AWS_60": "RDS copies its tags to snapshots",
        "CKV_AWS_129": "RDS exports its PostgreSQL log to CloudWatch Logs",
        "CKV2_AWS_30": "RDS PostgreSQL logs queries (slow statements, parameter group)",
        "CKV_AWS_226": "RDS gets minor engine upgrades automatically",
        "CKV_AWS_250": "RDS PostgreSQL is not a version with the log_fdw vulnerability (AWS-2022-004)",
        "CKV_AWS_353": "RDS has Performance Insights on",
        "CKV_AWS_354": "Performance Insights (it holds SQL text) uses the storage key (kms_key_id)",
        # S3 chunk bucket and SQS queues (modules/chunk_storage).
        "CKV2_AWS_6": "the S3 bucket has a public access block",
        "CKV_AWS_53": "the S3 public access block blocks public ACLs",
        "CKV_AWS_54": "the S3 public access block blocks public bucket policies",
        "CKV_AWS_55": "the S3 public access block ignores public ACLs",
        "CKV_AWS_56": "the S3 public access block restricts public buckets",
        "CKV_AWS_20": "the S3 bucket has no public-read ACL",
        "CKV_AWS_57": "the S3 bucket has no public-write ACL",
        "CKV2_AWS_65": "S3 ACLs are disabled (object ownership BucketOwnerEnforced)",
        "CKV_AWS_19": "the S3 bucket is encrypted at rest by default",
        "CKV_AWS_21": "the S3 bucket is versioned",
        "CKV2_AWS_61": "the S3 bucket has a lifecycle (old versions and abandoned uploads expire)",
        "CKV_AWS_27": "the SQS queues are encrypted at rest",
        "CKV_AWS_168": "the SQS queue policy admits only a named service/principal (S3 of the chunk bucket)",
        "CKV_AWS_72": "the SQS queue policy grants no '*' action",
        "CKV_AWS_387": "the SQS queue policy has no public wildcard",
        # Network and security groups (modules/network, modules/security_groups).
        "CKV_AWS_24": "no security group admits 0.0.0.0/0 to SSH (22)",
        "CKV_AWS_25": "no security group admits 0.0.0.0/0 to RDP (3389)",
        "CKV_AWS_260": "no security group admits 0.0.0.0/0 to HTTP (80)",
        "CKV_AWS_277": "no security group admits 0.0.0.0/0 to all ports",
        "CKV_AWS_23": "every security group and rule has a description",
        "CKV2_AWS_12": "the VPC's default security group allows no traffic",
        "CKV_AWS_130": "no subnet gives instances a public IP by default",
        "CKV_AWS_88": "no instance gets an automatic public IP (the bastion's address is an explicit EIP)",
        "CKV2_AWS_19": "every Elastic IP is attached (NAT gateways, bastion)",
        # EC2: Qdrant, the bastion, the EKS node launch template.
        "CKV_AWS_79": "instances and the node launch template require IMDSv2",
        "CKV_AWS_341": "the node launch template's IMDS hop limit is 1 (pods cannot reach node credentials)",
        "CKV_AWS_8": "instance root volumes are encrypted",
        "CKV_AWS_3": "the Qdrant data volume is encrypted",
        "CKV2_AWS_2": "only encrypted EBS volumes are attached to instances",
        "CKV_AWS_135": "instances are EBS-optimized",
        "CKV_AWS_46": "no hard-coded secret in user data",
        "CKV2_AWS_41": "the Qdrant instance has an IAM role (its API key comes from SSM, not user data)",
        # EKS (modules/eks) and its KMS key.
        "CKV_AWS_39": "the EKS API endpoint is private (no public endpoint)",
        "CKV_AWS_38": "the EKS API endpoint is not open to 0.0.0.0/0",
        "CKV_AWS_58": "EKS encrypts Kubernetes Secrets with a KMS key of the account",
        "CKV_AWS_37": "EKS sends every control plane log type to CloudWatch Logs",
        "CKV_AWS_339": "EKS runs a supported Kubernetes version",
        "CKV_AWS_100": "the EKS node group allows no implicit SSH from 0.0.0.0/0",
        "CKV_AWS_7": "the KMS key rotates yearly",
        "CKV_AWS_33": "the KMS key policy has no wildcard principal",
        "CKV2_AWS_64": "the KMS key has an explicit key policy",
        # IAM: EKS roles, IRSA roles, the Qdrant role.
        "CKV_AWS_63": "no IAM policy allows '*' actions",
        "CKV_AWS_62": "no IAM policy grants full '*:*' administrator rights",
        "CKV_AWS_355": "no IAM policy uses '*' as resource for actions that can be restricted",
        "CKV_AWS_286": "no IAM policy allows privilege escalation",
        "CKV_AWS_287": "no IAM policy allows credentials exposure",
        "CKV_AWS_288": "no IAM policy allows data exfiltration",
        "CKV_AWS_289": "no IAM policy allows permissions management without constraints",
        "CKV_AWS_290": "no IAM policy allows write access without constraints",
        "CKV2_AWS_40": "no IAM policy grants full IAM privileges",
        "CKV_AWS_274": "no role uses the AdministratorAccess managed policy",
        "CKV2_AWS_56": "no role uses the IAMFullAccess managed policy",
        "CKV_AWS_60": "every role is assumable only by a named service or principal",
        "CKV_AWS_61": "no trust policy lets every service assume a role",
        "CKV_AWS_41": "no AWS access key is hard-coded in a provider block",
    },
    KUBERNETES: {
        # The operator's Pod (Deployment faro-operator).
        "CKV_K8S_23": "the operator runs as non-root",
        "CKV_K8S_40": "the operator runs as a high UID (10001)",
        "CKV_K8S_22": "the operator's root filesystem is read-only",
        "CKV_K8S_20": "no privilege escalation (allowPrivilegeEscalation: false)",
        "CKV_K8S_16": "the container is not privileged",
        "CKV_K8S_37": "all capabilities are dropped",
        "CKV_K8S_25": "no capability is added",
        "CKV_K8S_28": "NET_RAW is dropped",
        "CKV_K8S_39": "no CAP_SYS_ADMIN",
        "CKV_K8S_31": "the seccomp profile is RuntimeDefault",
        "CKV_K8S_29": "the pod has a security context",
        "CKV_K8S_30": "the container has a security context",
        "CKV_K8S_17": "no host PID namespace",
        "CKV_K8S_18": "no host IPC namespace",
        "CKV_K8S_19": "no host network",
        "CKV_K8S_26": "no hostPort",
        "CKV_K8S_27": "no Docker socket mount",
        "CKV_K8S_10": "CPU request set",
        "CKV_K8S_11": "CPU limit set",
        "CKV_K8S_12": "memory request set",
        "CKV_K8S_13": "memory limit set",
        "CKV_K8S_8": "liveness probe configured",
        "CKV_K8S_9": "readiness probe configured",
        "CKV_K8S_14": "the image has a fixed tag (not latest, not empty)",
        "CKV_K8S_35": "no Secret is passed as an environment variable",
        "CKV_K8S_21": "nothing is installed into the default namespace",
        # Service accounts and RBAC.
        "CKV_K8S_41": "the default service account is not used (the operator has its own)",
        "CKV_K8S_42": "no binding grants rights to a default service account",
        "CKV_K8S_49": "no wildcard in the ClusterRole",
        "CKV_K8S_155": "the ClusterRole cannot change admission webhook configurations",
        "CKV_K8S_156": "the ClusterRole cannot approve CertificateSigningRequests",
        "CKV_K8S_157": "the ClusterRole cannot bind roles (no bind verb)",
        "CKV_K8S_158": "the ClusterRole cannot escalate roles (no escalate verb)",
        "CKV2_K8S_1": "the binding allows no escalation through other RoleBindings",
        "CKV2_K8S_2": "no create on nodes/proxy or pods/exec",
        "CKV2_K8S_3": "no impersonate permission",
        "CKV2_K8S_4": "no update of services/status (CVE-2020-8554)",
        "CKV2_K8S_5": "the operator cannot read all Secrets",
    },
}

SKIPPED: dict[str, dict[str, str]] = {
    TERRAFORM: {
        "CKV2_AWS_5": (
            "false finding: every security group is created in modules/security_groups and attached in other "
            "modules through its outputs (EKS launch template, RDS, Qdrant, bastion), which checkov's graph "
            "does not follow; the attachments are asserted by the eks, rds, qdrant_ec2 and bastion tftests"
        ),
        "CKV2_AWS_11": (
            "VPC flow logs are not part of the stack yet: they are billed per GB ingested and the traffic "
            "between the nodes, RDS and Qdrant (embedding vectors) is large, and their destination (a "
            "CloudWatch log group or an S3 bucket, each with its own retention and encryption) is an "
            "account-level choice; ingress is restricted by the security-group checks above"
        ),
        "CKV_AWS_18": (
            "S3 server access logging needs a second, log-only bucket per account; object-level auditing "
            "belongs to the account's CloudTrail data events, outside Faro's stack. The chunk bucket is "
            "private (public access block, no ACLs) and only the IRSA roles may touch its prefix"
        ),
        "CKV_AWS_144": (
            "no cross-region replication: the chunk objects are derived data, rebuilt from the source "
            "documents by the chunker; replication would double storage and transfer cost for nothing "
            "that cannot be recomputed (versioning covers accidental overwrites)"
        ),
        "CKV_AWS_161": (
            "RDS IAM authentication is not used: the workloads authenticate with the password RDS keeps in "
            "Secrets Manager (manage_master_user_password), read through Kubernetes Secrets; IAM tokens "
            "expire after 15 minutes and the psycopg pool would have to refresh them. Enabling the flag "
            "without using it adds an unused way in, not a guarantee"
        ),
        "CKV_AWS_118": (
            "RDS enhanced monitoring (OS metrics every few seconds, an extra monitoring IAM role and "
            "CloudWatch cost) is an operations choice, not a security property; Performance Insights and the "
            "exported PostgreSQL log are on"
        ),
        "CKV_AWS_126": (
            "EC2 detailed monitoring (1-minute CloudWatch metrics, billed per metric) is an operations "
            "choice, not a security property; Qdrant and the operator expose Prometheus metrics instead"
        ),
    },
    KUBERNETES: {
        "CKV_K8S_38": (
            "the operator is a Kubernetes API client: it must mount its service account token "
            "(automountServiceAccountToken: true, commented in deployment.yaml); its rights are the "
            "least-privilege ClusterRole checked by tests/unit/operator/test_install_manifests.py"
        ),
        "CKV_K8S_43": (
            "the image is pinned by release tag (ghcr.io/faro-dev/faro-operator:0.1.0); its digest exists "
            "only once the release is pushed, and the overlay sets it then (`kustomize edit set image "
            "ghcr.io/faro-dev/faro-operator@sha256:...`)"
        ),
        "CKV_K8S_15": (
            "imagePullPolicy stays IfNotPresent: the image is public and pinned by tag, so Always would "
            "only add a registry round-trip to every restart and make the operator unable to restart while "
            "the registry is unreachable; against a re-pushed tag the answer is the digest (CKV_K8S_43)"
        ),
        "CKV2_K8S_6": (
            "no NetworkPolicy for the operator pod itself: it listens only on healthz (8080, kubelet "
            "probes) and metrics (9090, scraped by a Prometheus whose namespace and labels differ per "
            "cluster), so an ingress policy would have to admit both from anywhere, i.e. nothing; an "
            "egress policy would need the API server's addresses (on EKS, control-plane ENIs unknown at "
            "render time). Cluster-specific policies belong in an overlay; the operator renders "
            "NetworkPolicies for the pipeline pods it creates"
        ),
    },
}

# The pods the operator renders for the example pipeline (both examples: namespace faro, name product-docs).
_PIPELINE_PODS = (
    "Deployment.faro.product-docs-chunker",
    "Deployment.faro.product-docs-embedder",
    "Deployment.faro.product-docs-query",
    "CronJob.faro.product-docs-consistency",
)

EXCEPTIONS: dict[str, dict[tuple[str, str], str]] = {
    TERRAFORM: {
        ("CKV_AWS_24", "module.security_groups.aws_vpc_security_group_ingress_rule.sg"): (
            "false finding: these SSH rules admit a security group (referenced_security_group_id), not a "
            "CIDR; checkov 3.3.30 reads an aws_vpc_security_group_ingress_rule without cidr_ipv4 as open to "
            "the world because it only knows the older attribute names. security_groups.tftest.hcl asserts "
            "that every rule of this resource has a referenced group and no CIDR"
        ),
        ("CKV2_AWS_41", "module.bastion.aws_instance.bastion"): (
            "deliberate: the bastion calls no AWS API (OpenVPN and SSH only), so it gets no instance "
            "profile; credentials on the one internet-facing host would only be something to steal"
        ),
    },
    KUBERNETES: {
        **{
            ("CKV_K8S_11", resource): (
                "deliberate: the pipeline's pods get a CPU request and no default CPU limit. A CFS quota "
                "throttles a Python service in bursts (the query path's latency, the embedder's batches) "
                "while the node has idle CPU; the HorizontalPodAutoscaler scales on the request. A limit is "
                "rendered when the spec sets one (spec.<component>.resources.limits.cpu); memory limits are "
                "the spec's too"
            )
            for resource in _PIPELINE_PODS
        },
    },
}
