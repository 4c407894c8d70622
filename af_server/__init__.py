"""The FL server as a 3GPP Application Function: jobs, UE selection via the NEF, rounds, FedAvg."""
