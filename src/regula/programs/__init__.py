"""Program management: the PAR (Plano de Ação Regional), its incentive and OCI funding, the 2023 queue-reduction
plan, contracts, and the CIB/CIT reports (Portaria GM/MS 3.492/2024 art. 8–16 as amended; Portaria GM/MS 90/2023)."""
