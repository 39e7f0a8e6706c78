def main(): import sitescout.probes as p; print(p.X, p.__file__)
